-- For transactions whose loss in a crash costs nothing (the worker's lease).
SET LOCAL synchronous_commit = off
