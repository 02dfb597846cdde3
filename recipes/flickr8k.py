"""flickr8k: Show and Tell (Vinyals et al. 2015) on a folder in the Flickr8k layout.

Figure: not reproduced here (Flickr8k cannot be downloaded on this machine). The paper reports
BLEU-1 63 with an ImageNet-trained GoogLeNet encoder, a plain VGG16+LSTM greedy reproduction about
54; here the ResNet-18 encoder starts from scratch (kerascnn has no ImageNet-trained weights), so
expect far less. With the data in DIR (an images folder and Flickr8k.token.txt or captions.txt,
plus the Flickr_8k.*Images.txt split files):

    kerascnn run flickr8k --data-dir DIR

Copy this file, change anything and run it by path: kerascnn run my_recipe.py
"""

from kerascnn.recipes import CallbackConfig, DataConfig, ModelConfig, OptimizerConfig, Recipe


def recipe() -> Recipe:
    """Show and Tell on a Flickr8k folder (--data-dir), 224 px, ResNet-18 encoder, LSTM 512, 20 epochs."""
    return Recipe(
        name="flickr8k",
        # Not in tfds: --data-dir DIR with the images folder and captions file (kerascnn.data.folders).
        data=DataConfig(name="flickr8k", image_shape=(224, 224, 3), validation="none"),
        model=ModelConfig(
            name="show_and_tell",
            args={"encoder": "resnet18", "max_length": 30, "max_words": 5000},
        ),
        augmentation="none",
        optimizer=OptimizerConfig(name="adam", learning_rate=1e-3, schedule="cosine"),
        batch_size=64,
        epochs=20,
        callbacks=CallbackConfig(histogram_freq=0, sample_grid=16, quality_examples=1000),
        source="Vinyals et al. 2015: BLEU-1 63 on Flickr8k with an ImageNet-trained encoder; "
        "a VGG16+LSTM greedy reproduction reaches about 54",
        smoke={"data.image_shape": [64, 64, 3], "callbacks.sample_grid": 4},
    )
