"""Continuous training: batches in, drift measured, retrain + gates + release when it matters."""
