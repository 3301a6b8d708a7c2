"""Talking to an MLflow tracking server over its REST API: the HTTP session (http.py) and the JSON
shapes of MLflow's entities (entities.py), shared by the REST reader and the REST writer."""
