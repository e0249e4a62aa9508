"""retouch's entry points: the Prefect flows and the command line."""
