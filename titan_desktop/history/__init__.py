"""History: finished jobs per minute by kind, queue depth and the oldest runnable job, live."""
