"""Titan's self-edit loop: path rules, local git and GitHub backends, canary deploys, job steps."""
