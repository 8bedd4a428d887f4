# exit: 1
# stderr: configuration missing
raise SystemExit("configuration missing")
