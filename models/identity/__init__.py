"""Identity embedders: SFace (and its torch port), dlib's face ResNet, pSp/e4e ArcFace."""
