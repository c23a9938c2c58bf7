"""Shared machinery of the embedded simulations (toy physics, no analysis names).

Each analysis that brings an embedded simulation (``analyses/<name>/simulation.py``) writes
only its generators, catalogue and file plan; everything else is here:

- ``kinematics``: four-vectors as (n, 4) arrays, boosts, two-body decays, samplers, masses;
- ``truth``: the generator-level ``Truth`` of a batch of events, and how batches are cut,
  stacked and interleaved;
- ``production``: recoil and decay building blocks (ISR jets, W/Z/tau/top decays);
- ``higgs``: the Higgs production modes (their recoil systems); the decay is the analysis's;
- ``detector``: the toy ATLAS-like detector response (photons, jets, leptons, missing
  momentum, triggers) shared by the ATLAS analyses;
- ``catalogue``: the sample catalogue as simulate reads it, file plans (pseudo-data
  components and yields, MC weights), data periods;
- ``seeds``: per-file seed sequences, random streams, event numbers;
- ``embedded``: ``EmbeddedSimulation``, the base class that turns an analysis's generators
  into files (the chunk loop, the atomic ROOT write, the ``colliderflow_simulation`` record).
"""
