/* nanogen playground (placeholder) */
