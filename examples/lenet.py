"""The tutorial's LeNet: CONV => RELU => POOL, twice, then FC => RELU => FC => SOFTMAX."""

import keras
from keras import layers


class LeNet:
    @staticmethod
    def build(width, height, depth, classes):
        model = keras.Sequential(name="lenet")
        model.add(keras.Input(shape=(height, width, depth)))
        # first set of CONV => RELU => POOL layers
        model.add(layers.Conv2D(20, (5, 5), padding="same"))
        model.add(layers.Activation("relu"))
        model.add(layers.MaxPooling2D(pool_size=(2, 2), strides=(2, 2)))
        # second set of CONV => RELU => POOL layers
        model.add(layers.Conv2D(50, (5, 5), padding="same"))
        model.add(layers.Activation("relu"))
        model.add(layers.MaxPooling2D(pool_size=(2, 2), strides=(2, 2)))
        # first (and only) set of FC => RELU layers
        model.add(layers.Flatten())
        model.add(layers.Dense(500))
        model.add(layers.Activation("relu"))
        # softmax classifier
        model.add(layers.Dense(classes))
        model.add(layers.Activation("softmax"))
        return model
