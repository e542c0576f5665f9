# Costs a load per check: sleeps 12 s at import (under the load limit) and kills its own process
# in every function, so each check starts (and waits for) a fresh process. Budgets that count
# only time inside calls let this one file take 11 loads; the whole submission must cost about
# its submission budget.
import os
import time

time.sleep(12)


def f(x):
    os._exit(0)


f_prime = f_second = f


def derivative(fn, x, order=1):
    os._exit(0)
