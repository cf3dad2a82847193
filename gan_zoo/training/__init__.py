"""Training: the step math (steps.py: one D update, one G update, or both from one generator
pass) and the trainer (trainer.py: the training state, the compiled step graphs, which step
runs on which batch, one epoch's steps). Builds on core/ and models/; reads and writes no file.
"""
