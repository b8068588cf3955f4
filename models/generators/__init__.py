"""Generators behind one interface: the embedded DCGAN, StyleGAN2 and its checkpoint formats, face framing."""
