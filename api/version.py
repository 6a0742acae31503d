"""The API versions served: docker 20.10's, and the oldest dockerd still takes."""
API_VERSION = "1.41"
MIN_API_VERSION = "1.12"
