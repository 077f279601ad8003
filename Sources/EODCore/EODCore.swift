// EODCore
