"""Provider adapter contract tests."""
