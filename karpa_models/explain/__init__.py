"""Explanations of fine-tuned models: token attributions (Captum's layer integrated
gradients), nearest labeled training examples, the deletion test of faithfulness, and
leave-one-out contributions for recommendations. PyTorch and Captum only."""
