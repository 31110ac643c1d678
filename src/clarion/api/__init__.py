"""The REST API (FastAPI). Routes live in ``api/routes/<feature>.py``, each exposing ``router``."""
