"""Search strategies beyond grid and NSGA-II/III, one module each.

A module registers its strategy with `dse.optimize.register(name, budget, doc)` on a function
taking a `dse.optimize.SearchContext`; `search.method: <name>` in a sweep file selects it, and
`search.options` carries its settings. `dse.optimize.strategies()` imports every module here.
"""
