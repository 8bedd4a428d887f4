# stdout: pillow: (8, 4) RGB (255, 0, 0)
# stdout: lxml: ['a', 'b']
# stdout: sympy: x**2 + 2*x + 1 -> 2*x + 2
# stdout: networkx: shortest path ['a', 'b', 'd']
import io

import networkx as nx
import sympy
from lxml import etree
from PIL import Image

image = Image.new("RGB", (8, 4), (255, 0, 0))
buffer = io.BytesIO()
image.save(buffer, format="PNG")
with Image.open(io.BytesIO(buffer.getvalue())) as loaded:
    print("pillow:", loaded.size, loaded.mode, loaded.getpixel((0, 0)))
root = etree.fromstring("<r><i>a</i><i>b</i></r>")
print("lxml:", root.xpath("//i/text()"))
x = sympy.symbols("x")
expression = sympy.expand((x + 1) ** 2)
print("sympy:", expression, "->", sympy.diff(expression, x))
graph = nx.Graph([("a", "b"), ("b", "d"), ("a", "c"), ("c", "e"), ("e", "d")])
print("networkx: shortest path", nx.shortest_path(graph, "a", "d"))
