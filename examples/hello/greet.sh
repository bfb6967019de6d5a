#!/bin/sh
echo "hello from an image built by kiln ${1:-}"
