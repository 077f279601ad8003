// EODSnapshot
