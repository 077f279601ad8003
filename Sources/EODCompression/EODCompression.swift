// EODCompression
