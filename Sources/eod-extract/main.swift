print("eod-extract")
