"""The shipped recipes, one flagfile each (NAME.flags beside this file): a recipe is data, the
settings one model trains well with. `--recipe=NAME` reads one from any directory; a model's
own recipe (gan_zoo.models.recipe_name) is its defaults."""
import difflib
import os

from gan_zoo.errors import UserError

RECIPE_DIR = os.path.dirname(os.path.abspath(__file__))


def names():
    return sorted(f[:-len(".flags")] for f in os.listdir(RECIPE_DIR) if f.endswith(".flags"))


def loss_path(loss):
    """The flagfile of what `--loss=loss` brings when a run switches a model to it
    (losses/LOSS.flags beside this file), or None where the loss brings nothing."""
    candidate = os.path.join(RECIPE_DIR, "losses", f"{loss}.flags")
    return candidate if os.path.isfile(candidate) else None


def path(name):
    """The flagfile of recipe `name`, or a UserError naming the recipes."""
    candidate = os.path.join(RECIPE_DIR, f"{name}.flags")
    if os.path.basename(name) != name or not os.path.isfile(candidate):
        close = difflib.get_close_matches(name, names(), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UserError(f"Unknown recipe {name!r}.{hint} Shipped recipes: {', '.join(names())} "
                        "(--recipe=NAME); a flagfile of your own goes in --flagfile=PATH.")
    return candidate
