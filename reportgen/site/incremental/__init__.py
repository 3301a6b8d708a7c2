"""Incremental builds: the key of each rendered unit (keys), the cache of rendered units (cache) and whose
folder a cache folder is (cache_folder)."""
