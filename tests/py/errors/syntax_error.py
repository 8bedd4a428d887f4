# exit: 1
# stderr:   File "{script}", line 8
# stderr:     print("unclosed"
# stderr:          ^
# stderr: SyntaxError: '(' was never closed
print("this never runs")

print("unclosed"
