// SPDX-License-Identifier: UNLICENSED
pragma solidity 0.8.24;

import {Controller} from "./Controller.sol";

/// @title Manager: base of the contracts that belong to a Controller.
/// @notice Parameter changes are restricted to the Controller's owner, as on mainnet, so one
/// key administers the whole devnet.
abstract contract Manager {
    Controller public immutable controller;

    modifier onlyControllerOwner() {
        require(msg.sender == controller.owner(), "caller is not the Controller owner");
        _;
    }

    constructor(Controller controller_) {
        require(address(controller_) != address(0), "controller is the null address");
        controller = controller_;
    }
}
