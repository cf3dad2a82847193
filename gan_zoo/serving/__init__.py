"""Serving a trained generator: the SavedModel export and its signatures, the generators
shipped in the package (pretrained/), drawing images from either, and the latent explorer.
"""
