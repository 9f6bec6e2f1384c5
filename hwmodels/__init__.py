"""Hardware cost models: technology constants and node scaling, arithmetic units, MAC and
dot-product units per format pair, memories, storage layouts and an accelerator roofline.

Depends on `dse.formats` and `dse.errors` only. Units: um^2, pJ, ns, bytes, GB/s.
"""
