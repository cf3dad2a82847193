"""gan_zoo's own import graph, read from the source (imports inside functions included), its
cycles, and the imports that go the wrong way between the package's floors (FLOORS below).
`python tests/import_graph.py` prints both; tests/test_layout.py fails on any."""
import ast
import os
import sys

# Which floor may import which, lowest first. A floor is a folder of gan_zoo (the top-level
# modules are the "top" floor); a module may import its own floor and the floors listed.
# LEAVES import no other part of the package, so any module may import them.
FLOORS = {
    "settings": (),  # every setting, the recipes: read by every floor
    "core": ("settings",),  # losses, noise, DiffAugment, optimizers, replicas, EMA: TensorFlow
    "models": ("core", "settings"),  # the builders
    "data": ("models", "core", "settings"),  # the input pipelines
    "training": ("data", "models", "core", "settings"),  # the step math and the trainer
    "eval": ("data", "models", "core", "settings"),  # metrics and scorers, apart from training
    "run": ("training", "eval", "data", "models", "core", "settings"),  # the epoch loop, run dir
    "fit": ("run", "training", "eval", "data", "models", "core", "settings"),  # the Keras way
    "serving": ("run", "training", "eval", "data", "models", "core", "settings"),  # export
    "cli": ("serving", "run", "training", "eval", "data", "models", "core", "settings", "top"),
    "top": ("cli", "fit", "serving", "run", "training", "eval", "data", "models", "core",
            "settings"),
}
LEAVES = ("gan_zoo.errors", "gan_zoo.images", "gan_zoo.cli.options")
# Wrong-way imports that are known and are to go (none now; a pair here is skipped).
KNOWN_WRONG_WAY = set()

PACKAGE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "gan_zoo")


def modules(package_dir=PACKAGE_DIR):
    """{dotted module name: path} of every .py file under the package."""
    root = os.path.dirname(package_dir)
    found = {}
    for folder, _, files in os.walk(package_dir):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                dotted = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
                found[dotted.removesuffix(".__init__")] = path
    return found


def imports(path, known):
    """The package's modules that the file at `path` imports, anywhere in it."""
    with open(path) as fh:
        tree = ast.parse(fh.read(), path)
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                if child in known:
                    out.add(child)
                elif node.module in known:
                    out.add(node.module)
    return out


def graph():
    known = modules()
    return {name: imports(path, known) - {name} for name, path in known.items()}


def floor_of(module, floors=FLOORS):
    """'core' for gan_zoo.core.losses, 'top' for gan_zoo.api or gan_zoo itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in floors else "top"


def wrong_way(edges, floors=FLOORS, leaves=LEAVES, known=frozenset()):
    """[(importer, imported)] of imports the floor table does not allow, leaves importing
    anything but leaves among them; `known` pairs are left out."""
    found = []
    for module, targets in sorted(edges.items()):
        for target in sorted(targets):
            if module in leaves:
                allowed = target in leaves
            else:
                here, there = floor_of(module, floors), floor_of(target, floors)
                allowed = target in leaves or there == here or there in floors[here]
            if not allowed and (module, target) not in known:
                found.append((module, target))
    return found


def cycles(edges):
    """Each strongly connected group of more than one module (Tarjan), as a sorted list."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.add(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(groups)


if __name__ == "__main__":
    edges = graph()
    found = cycles(edges)
    for group in found:
        print("circle:", " <-> ".join(group))
    wrong = wrong_way(edges, known=KNOWN_WRONG_WAY)
    for module, target in wrong:
        print(f"wrong way: {module} ({floor_of(module)}) imports {target} ({floor_of(target)})")
    sys.exit(1 if found or wrong else 0)
