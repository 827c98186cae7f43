// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.24;

import {Controller} from "./Controller.sol";
import {Manager} from "./Manager.sol";

/// @title BondingManager stand-in: an owner-managed set of active transcoders.
/// @notice Mainnet derives the active set from bonded stake; the devnet sets it directly.
/// The pool size is the number of active transcoders, which is what the TicketBroker's
/// reserve allocation divides by.
contract BondingManager is Manager {
    mapping(address => bool) private active;
    uint256 private poolSize;

    event TranscoderActivation(address indexed transcoder, bool active);

    constructor(Controller controller_) Manager(controller_) {}

    /// @notice Add `transcoder` to (isActive) or remove it from the active set.
    function setActiveTranscoder(address transcoder, bool isActive) external onlyControllerOwner {
        require(transcoder != address(0), "transcoder is the null address");
        require(active[transcoder] != isActive, isActive ? "transcoder is already active" : "transcoder is not active");
        active[transcoder] = isActive;
        poolSize = isActive ? poolSize + 1 : poolSize - 1;
        emit TranscoderActivation(transcoder, isActive);
    }

    function isActiveTranscoder(address transcoder) external view returns (bool) {
        return active[transcoder];
    }

    function getTranscoderPoolSize() external view returns (uint256) {
        return poolSize;
    }
}
