# Does not parse.
def f(x)
    return x
