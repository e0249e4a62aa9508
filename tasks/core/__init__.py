"""The core: config models with defaults resolved at load, domain models, the one exception tree."""
