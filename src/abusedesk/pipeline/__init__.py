"""Pipeline: the stages a report goes through, and the job engines that run them."""
