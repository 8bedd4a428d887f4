# flags: --dir {fixtures}:/fixtures
# stdout: backend agg
# stdout: a PNG of 640x480 pixels: True
# stdout: an SVG: True
# Saving a figure into a granted folder needs no configuration: the
# backend is Agg, and matplotlib's font list comes with the guest.
import io

import matplotlib
import matplotlib.pyplot as plt
from PIL import Image

print("backend", matplotlib.get_backend().lower())
fig, ax = plt.subplots()
ax.plot([1, 2, 3], [4, 1, 9], label="data")
ax.set_title("isolate")
ax.legend()
fig.savefig("/fixtures/plot.png")
with Image.open("/fixtures/plot.png") as image:
    print("a PNG of 640x480 pixels:", image.format == "PNG" and image.size == (640, 480))
svg = io.StringIO()
fig.savefig(svg, format="svg")
print("an SVG:", svg.getvalue().lstrip().startswith("<?xml"))
