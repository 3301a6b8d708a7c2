"""A run's artifacts in a site: which files are listed and copied (plan, decided while gathering), the
copies themselves (copy) and what a run page shows of each file (preview)."""
