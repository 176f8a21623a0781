"""Files copied into every bundle (serve.py). Nothing here imports lablift."""
