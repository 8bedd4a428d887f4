# PEP 554 "Running a module": isolate run examples/pep554/running_a_module.py
# stdout: Hello world!
# stdout: Hello world!
import interpreters

interp = interpreters.create()
main_module = "__hello__"
interp.run(f"import runpy; runpy.run_module({main_module!r}, run_name='__main__')")
interp.run(f"import runpy; runpy.run_module({main_module!r}, run_name='__main__')")
