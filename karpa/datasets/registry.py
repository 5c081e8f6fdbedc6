"""The public datasets karpa can fetch: canonical address and checksum of every file.

Checksums pin the exact bytes the presets in `configs/real/` were written and tested
against. Where a dataset's SOURCE.txt in the shared test data gives a checksum, the pin
here is that file's sha256 (and the test suite checks the shared copy against it). A file
whose publisher gives only an MD5 (GroupLens's ml-100k.zip) is pinned by that MD5; fetching
it logs the sha256 it computed, so the pin can be tightened.
"""

from __future__ import annotations

from dataclasses import dataclass

from karpa.errors import KarpaError


class DatasetError(KarpaError):
    """A dataset that cannot be fetched: unknown name, failed download, wrong checksum."""


@dataclass(frozen=True)
class RemoteFile:
    """One published file. `name` is its name in the dataset folder and under a mirror."""

    name: str
    url: str
    sha256: str | None = None
    md5: str | None = None  # only where the publisher gives no sha256
    unpack: bool = False  # a .zip or .tar(.gz) whose members go into the dataset folder
    strip_components: int = 0  # leading folders dropped from member paths when unpacking

    def __post_init__(self) -> None:
        if not (self.sha256 or self.md5):
            raise ValueError(f"{self.name}: a registry file needs a sha256 (or an md5)")


@dataclass(frozen=True)
class PublicDataset:
    name: str
    title: str
    license: str
    citation: str
    presets: tuple[str, ...]
    files: tuple[RemoteFile, ...]


_POLYAI = (
    "https://raw.githubusercontent.com/PolyAI-LDN/task-specific-datasets/"
    "57ec275d8078af65b7731c2a98be812d844a6d6b/"
)
_PHRASEBANK = (
    "https://raw.githubusercontent.com/wychen-null/project_nlp_cuda/"
    "85f8c4fcd3a7f3be374279fd291f904f9436c9ab/data/FinancialPhraseBank-v1.0/"
)
_MNIST = "https://raw.githubusercontent.com/kelas/mnist/283b387221ab46655e600cfcc25d843bb14292b9/"
_GROUPLENS = "https://files.grouplens.org/datasets/movielens/"

DATASETS: tuple[PublicDataset, ...] = (
    PublicDataset(
        name="banking77",
        title="Banking77: 13,083 customer-service queries in 77 intents",
        license="CC BY 4.0",
        citation="Casanueva et al. 2020, Efficient Intent Detection with Dual Sentence Encoders",
        presets=("configs/real/banking77.yaml",),
        files=(
            RemoteFile(
                "train.csv",
                _POLYAI + "banking_data/train.csv",
                "b06e26ac675513959a63135f11b94ea7786ed02da65db93a5650d8838cbc664b",
            ),
            RemoteFile(
                "test.csv",
                _POLYAI + "banking_data/test.csv",
                "d12d6e3bc4c3103966ae786dc435913c0c563dfa328f5a3646d0e62cfeeb474d",
            ),
            RemoteFile(
                "categories.json",
                _POLYAI + "banking_data/categories.json",
                "53261da888122daf2d120d925458631d9619e15d82e56052e7a42e535ce32b63",
            ),
            RemoteFile(
                "LICENSE",
                _POLYAI + "LICENSE",
                "7e7170e3cebf88a9f60c7b8421418323c09304da1af4d5e90f4da1dc1c8a2661",
            ),
            RemoteFile(
                "README.md",
                _POLYAI + "README.md",
                "7b9ce9069931cc2de89dce8c7ffb53d07806cf413601ccf133b9af5227b3a373",
            ),
        ),
    ),
    PublicDataset(
        name="clinc150",
        title="CLINC150: 150 intents plus out-of-scope queries (data_full.json)",
        license="CC BY-SA 3.0",
        citation="Larson et al. 2019, An Evaluation Dataset for Intent Classification and "
        "Out-of-Scope Prediction",
        presets=("configs/real/clinc150.yaml",),
        files=(
            RemoteFile(
                "data_full.json",
                "https://raw.githubusercontent.com/clinc/oos-eval/master/data/data_full.json",
                "36923c3705a59e08fe9c3883d8bc2dd966ef93e22cb78ac41171782a698d56e0",
            ),
        ),
    ),
    PublicDataset(
        name="financial_phrasebank",
        title="Financial PhraseBank v1.0: finance news sentences, 3 sentiments",
        license="CC BY-NC-SA 3.0 (non-commercial)",
        citation="Malo et al. 2014, Good debt or bad debt: Detecting semantic orientations in "
        "economic texts",
        presets=("configs/real/phrasebank.yaml", "configs/real/phrasebank_allagree.yaml"),
        files=(
            RemoteFile(
                "Sentences_50Agree.txt",
                _PHRASEBANK + "Sentences_50Agree.txt",
                "13388b8bf2f878c68fb4d47564fa0072756eb4e9ba4a16467d6d7f0a29a6a742",
            ),
            RemoteFile(
                "Sentences_66Agree.txt",
                _PHRASEBANK + "Sentences_66Agree.txt",
                "6fcda6c07b5731fa075c81372413c921f95057b89ed611be0b2d1620ac94ac09",
            ),
            RemoteFile(
                "Sentences_75Agree.txt",
                _PHRASEBANK + "Sentences_75Agree.txt",
                "8aa3210c6fc324ec2f5bd903f7767543280525cd88bb6cbed5d39b33f01a4f05",
            ),
            RemoteFile(
                "Sentences_AllAgree.txt",
                _PHRASEBANK + "Sentences_AllAgree.txt",
                "b3cb762d2eb8c8fe50d6d53ac073afbd217dd01e4c6e04167ac9b8de9e42d3ca",
            ),
            RemoteFile(
                "License.txt",
                _PHRASEBANK + "License.txt",
                "fa4f941ef92f40d55dd34ddea45d96a20672607d152698bc160f8db3af5e36c7",
            ),
            RemoteFile(
                "README.txt",
                _PHRASEBANK + "README.txt",
                "80241dd9639af987cd87bbb2d8872392c6d45596a488ebefca2d425da46f5809",
            ),
        ),
    ),
    PublicDataset(
        name="mnist_test",
        title="MNIST test set: 10,000 handwritten digits (gzipped IDX)",
        license="commonly cited as CC BY-SA 3.0",
        citation="LeCun, Cortes and Burges, The MNIST database of handwritten digits",
        presets=("configs/real/mnist.yaml",),
        files=(
            RemoteFile(
                "t10k-images-idx3-ubyte.gz",
                _MNIST + "t10k-images-idx3-ubyte.gz",
                "167310007f03058885c7e95e6c0b19c20de5c7fd3031f4cbdadc9014a523d80b",
            ),
            RemoteFile(
                "t10k-labels-idx1-ubyte.gz",
                _MNIST + "t10k-labels-idx1-ubyte.gz",
                "fc607395669ec21321ea83e4b82c0544b7e8e63ff5b34337c06bc0a17cc0da3c",
            ),
        ),
    ),
    PublicDataset(
        name="movielens_latest_small",
        title="MovieLens latest-small (2018): 100,836 ratings, 9,742 movies, tags",
        license="GroupLens terms: research use, non-commercial; redistribution on the same terms",
        citation="Harper and Konstan 2015, The MovieLens Datasets: History and Context",
        presets=("configs/real/movielens.yaml",),
        files=(
            RemoteFile(
                "ml-latest-small.zip",
                _GROUPLENS + "ml-latest-small.zip",
                "696d65a3dfceac7c45750ad32df2c259311949efec81f0f144fdfb91ebc9e436",
                unpack=True,
                strip_components=1,
            ),
        ),
    ),
    PublicDataset(
        name="movielens_100k",
        title="MovieLens 100K (1998): 100,000 ratings of 1,682 movies by 943 users",
        license="GroupLens terms: research use, non-commercial; no redistribution",
        citation="Harper and Konstan 2015, The MovieLens Datasets: History and Context",
        presets=("configs/real/movielens_100k.yaml",),
        files=(
            RemoteFile(
                "ml-100k.zip",
                _GROUPLENS + "ml-100k.zip",
                md5="0e33842e24a9c977be4e0107933c0723",
                unpack=True,
                strip_components=1,
            ),
        ),
    ),
)

REGISTRY: dict[str, PublicDataset] = {d.name: d for d in DATASETS}


def get(name: str) -> PublicDataset:
    if name not in REGISTRY:
        raise DatasetError(f"unknown dataset {name!r} (known: {', '.join(REGISTRY)})")
    return REGISTRY[name]
