// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.24;

import {Controller} from "./Controller.sol";
import {Manager} from "./Manager.sol";

/// @title RoundsManager stand-in: rounds derived from the block number, as on mainnet.
/// @notice currentRound() = lastRoundLengthUpdateRound
///     + (block.number - lastRoundLengthUpdateStartBlock) / roundLength.
/// The first round is 1 and starts at the deployment block. A devnet advances to the next
/// round by mining blocks (anvil_mine) up to the next round's start block and then calling
/// initializeRound(); setRoundLength() changes the length from the current round's start on,
/// as mainnet's does. Mainnet's round locking, stake snapshots and Minter hooks are omitted.
contract RoundsManager is Manager {
    uint256 public roundLength;
    uint256 public lastRoundLengthUpdateRound;
    uint256 public lastRoundLengthUpdateStartBlock;
    uint256 public lastInitializedRound;
    mapping(uint256 => bytes32) private blockHashes;

    event NewRound(uint256 indexed round, bytes32 blockHash);
    event ParameterUpdate(string param);

    constructor(Controller controller_, uint256 roundLength_) Manager(controller_) {
        require(roundLength_ > 0, "round length cannot be 0");
        roundLength = roundLength_;
        lastRoundLengthUpdateRound = 1;
        lastRoundLengthUpdateStartBlock = block.number;
    }

    /// @notice Change the round length; the current round keeps its start block.
    function setRoundLength(uint256 roundLength_) external onlyControllerOwner {
        require(roundLength_ > 0, "round length cannot be 0");
        uint256 round = currentRound();
        uint256 startBlock = currentRoundStartBlock();
        lastRoundLengthUpdateRound = round;
        lastRoundLengthUpdateStartBlock = startBlock;
        roundLength = roundLength_;
        emit ParameterUpdate("roundLength");
    }

    /// @notice Initialize the current round: record the hash of the previous block for it.
    function initializeRound() external {
        require(!controller.paused(), "system is paused");
        uint256 round = currentRound();
        require(lastInitializedRound < round, "round already initialized");
        bytes32 hash = blockhash(block.number - 1);
        lastInitializedRound = round;
        blockHashes[round] = hash;
        emit NewRound(round, hash);
    }

    function currentRound() public view returns (uint256) {
        return lastRoundLengthUpdateRound + (block.number - lastRoundLengthUpdateStartBlock) / roundLength;
    }

    function currentRoundStartBlock() public view returns (uint256) {
        uint256 roundsSinceUpdate = currentRound() - lastRoundLengthUpdateRound;
        return lastRoundLengthUpdateStartBlock + roundsSinceUpdate * roundLength;
    }

    function currentRoundInitialized() external view returns (bool) {
        return lastInitializedRound == currentRound();
    }

    /// @notice The block hash recorded when `round` was initialized, or zero if it never was.
    function blockHashForRound(uint256 round) external view returns (bytes32) {
        return blockHashes[round];
    }
}
