"""Training-data generation for the bundled models: procedurally composed MIDI rendered with FluidSynth.

The public entry point is `models.training.datagen` (styles, instrument mixtures, datasets, the .npz cache).
"""
