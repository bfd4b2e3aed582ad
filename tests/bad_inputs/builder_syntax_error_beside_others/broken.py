import keras


def build(:
    return None
