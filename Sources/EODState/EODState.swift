// EODState
