"""The web app at `/` and the offline API pages `/docs` and `/redoc`, served by the service."""
