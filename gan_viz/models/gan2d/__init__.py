"""The 2D GAN lab family: tiny MLP GANs on point sets in the plane, trained live, many sessions stepped together."""
