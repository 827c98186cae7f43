"""Types of the native ticket core built from native/ticket_core.pyx (same API as reference.py)."""

IMPLEMENTATION: str

def keccak256(data: bytes) -> bytes: ...
def ticket_hash(
    recipient: bytes,
    sender: bytes,
    face_value: int,
    win_prob: int,
    nonce: int,
    recipient_rand_hash: bytes,
    creation_round: int,
    creation_round_block_hash: bytes,
) -> bytes: ...
def personal_sign(private_key: bytes, message: bytes) -> bytes: ...
def sign_ticket_batch(
    private_key: bytes,
    recipient: bytes,
    sender: bytes,
    face_value: int,
    win_prob: int,
    recipient_rand_hash: bytes,
    creation_round: int,
    creation_round_block_hash: bytes,
    first_nonce: int,
    count: int,
) -> list[tuple[bytes, bytes]]: ...
def private_key_to_address(private_key: bytes) -> bytes: ...
def recover_personal_signer(message: bytes, signature: bytes) -> bytes: ...
def verify_personal_signature(message: bytes, signature: bytes, address: bytes) -> bool: ...
def is_winning_ticket(signature: bytes, recipient_rand: int, win_prob: int) -> bool: ...
def raw_sign_loop(private_key: bytes, digest: bytes, count: int) -> None: ...
