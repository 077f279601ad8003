// EODOps
