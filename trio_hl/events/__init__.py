"""Getting events out of the process: ZMQ publisher and the SQLite recorder."""
