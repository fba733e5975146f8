"""Contrastive learning on the cached backbone vectors: projection heads and temperature
(`heads`), the paper's and CLIP's losses (`losses`), video-disjoint batches (`batching`),
fitting with early stopping (`fitting`, `early_stopping`), autoencoder initialisation
(`autoencoder`) and one training configuration end to end (`configuration`)."""
