"""The ``clarion`` command line (Typer). Each module here adds its commands via ``register``."""
