"""What is kept on disk: the cache of analysed models (cache.py) and the report folder's atomic
staging and swap (outputs.py)."""
